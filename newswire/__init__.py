"""newswire: streaming news ingestion on Kafka topics with faust agents."""

__version__ = "0.1.0"
