"""The SOP definitions shipped with Accord (a package so that wheels carry the YAML files)."""
