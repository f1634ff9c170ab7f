from dify_plugin import DifyPluginEnv, Plugin

# Streaming replies may run as long as Dify lets an app run (its daemon cuts at 600 s by default).
plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=600))

if __name__ == "__main__":
    plugin.run()
