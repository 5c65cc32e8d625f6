-- docker-compose.yml: one database per service (each service owns its data), created by
-- the postgres image on its first start (docker-entrypoint-initdb.d).
CREATE DATABASE leads;
CREATE DATABASE compliance;
CREATE DATABASE dialer;
CREATE DATABASE agent;
CREATE DATABASE reporting;
