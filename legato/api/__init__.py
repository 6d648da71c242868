"""The thin API: validates, starts workflows, answers from the inventory and workflow queries."""
