-- One database and one role per node: nodes share a server, never a schema or a password.
CREATE ROLE node_a LOGIN PASSWORD 'node-a-change-me';
CREATE ROLE node_b LOGIN PASSWORD 'node-b-change-me';
CREATE DATABASE unhcr OWNER node_a;
CREATE DATABASE iom_ilo OWNER node_b;
REVOKE CONNECT ON DATABASE unhcr FROM PUBLIC;
REVOKE CONNECT ON DATABASE iom_ilo FROM PUBLIC;
