"""Tool-call checks: the tools a record declares and the calls its turns make."""
