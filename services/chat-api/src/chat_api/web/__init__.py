"""The web app: a single page of plain ES modules, served by chat-api itself under /app/."""
