"""A tool-using agent: tools, the ReAct text protocol, and the loop that runs them within limits."""
