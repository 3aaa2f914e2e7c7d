"""Code that several Switchyard services share. Each module has one responsibility."""
