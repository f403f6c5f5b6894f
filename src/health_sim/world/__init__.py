"""The county and its people: residents, facilities, doctors, insurance, illness and choice of care."""
