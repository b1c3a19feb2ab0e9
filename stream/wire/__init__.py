"""Wire formats: the JSON and binary records on the topics, their decoding and identity."""
