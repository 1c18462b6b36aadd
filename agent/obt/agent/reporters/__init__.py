"""Where the agent sends its report: the Kubernetes API (`kubernetes`) or the OBT API (`http`)."""
