"""chat-api: accounts, API keys, chat and the OpenAI-compatible API for Switchyard's apps and SDKs."""
