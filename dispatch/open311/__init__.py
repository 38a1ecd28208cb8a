"""Open311 GeoReport v2 at /open311/v2 (with page/page_size and FixMyStreet's servicerequestupdates)."""
