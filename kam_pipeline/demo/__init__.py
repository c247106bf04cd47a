"""The demo data generator (kam demo), apart from the runtime."""
