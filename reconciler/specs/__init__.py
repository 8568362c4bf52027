"""The spec language (apiVersion ftops/v1): pydantic models per kind; YAML loading with locations.

Pure: no SDK, no HTTP, no torch. See specs/README.md at the top of the repository for the reference.
"""
