"""Career-guide question answering with section citations."""
