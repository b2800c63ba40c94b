"""The platform's configuration (config/), Garage, provider keys and the encryption keys of
stored secrets."""
