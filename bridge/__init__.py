"""hitl-bridge: hand chatbot conversations to humans in Slack threads."""
