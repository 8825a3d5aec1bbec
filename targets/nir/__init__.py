"""The NIR target: an IF network as a NIR graph (HDF5 via `nir.write`) for the simulators and chips
that import NIR. flavors.py: the form each importer needs; export.py: the graph walk and the file.
docs/interop.md says what each importer does with it and what it costs."""
