"""regkb: curated YAML rules -> validated models -> kb.db, published with Datasette."""
