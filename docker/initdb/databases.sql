-- One database per node: nodes share a server, never a schema.
CREATE DATABASE unhcr;
CREATE DATABASE iom_ilo;
