"""The checkpoint as a site: lanes over MQTT, the site store, the supervisor and the site sim."""
