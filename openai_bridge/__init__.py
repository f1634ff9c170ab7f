"""The OpenAI <-> Dify translation core.

Pure functions and small state machines from data to data: an OpenAI request becomes a Dify app call, Dify's
events become OpenAI responses, and Dify's failures become OpenAI errors. Nothing here imports the Dify plugin SDK,
so it is tested on its own and can be reused by any gateway that talks to Dify.
"""
