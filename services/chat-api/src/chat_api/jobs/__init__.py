"""Operator jobs run from the chat-api image: `python -m chat_api.jobs.<job>`."""
