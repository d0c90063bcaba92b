"""`ingestd serve`: the platform's V2 API (gRPC, and HTTP+JSON) over the stages and catalog."""
