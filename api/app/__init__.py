"""Social Network Ads purchase predictor: the API service."""
