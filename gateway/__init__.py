"""The standalone gateway: the core (`openai_bridge`) served over Dify's Service API with app API keys, for Dify
installs where the plugin cannot be installed. Not part of the plugin package (.difyignore)."""
