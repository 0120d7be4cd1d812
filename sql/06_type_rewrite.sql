-- ALTER TYPE ... RENAME VALUE rewrites what stored rows read as, without
-- touching a row: refused while a protected table uses the enum, directly,
-- through a domain, an array or a composite type.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE ROLE regress_enum_owner;
CREATE SCHEMA regress_enum;
GRANT USAGE ON SCHEMA regress_enum TO regress_enum_owner;
SET search_path = regress_enum;
CREATE TYPE verb AS ENUM ('create', 'delete');
CREATE DOMAIN verb_d AS verb;
CREATE TYPE wrapped AS (v verb);
CREATE TABLE direct (v verb);
CREATE TABLE via_domain_array (v verb_d[]);
CREATE TABLE via_composite (w wrapped);
INSERT INTO direct VALUES ('delete');
INSERT INTO via_domain_array VALUES (ARRAY['delete']::verb_d[]);
INSERT INTO via_composite VALUES (ROW('delete'));

SELECT audit_guard.protect('direct', owner => 'regress_enum_owner');
ALTER TYPE verb RENAME VALUE 'delete' TO 'create_v2';
SELECT v FROM direct;
-- adding a value rewrites nothing and stays allowed
ALTER TYPE verb ADD VALUE 'archive';

SET ROLE regress_enum_owner;
SELECT audit_guard.unprotect('direct');
RESET ROLE;
SELECT audit_guard.protect('via_domain_array', owner => 'regress_enum_owner');
ALTER TYPE verb RENAME VALUE 'delete' TO 'create_v2';

SET ROLE regress_enum_owner;
SELECT audit_guard.unprotect('via_domain_array');
RESET ROLE;
SELECT audit_guard.protect('via_composite', owner => 'regress_enum_owner');
ALTER TYPE verb RENAME VALUE 'delete' TO 'create_v2';
SELECT w FROM via_composite;

-- the designated owner may (they could unprotect anyway)
GRANT regress_enum_owner TO CURRENT_USER;
ALTER TYPE verb OWNER TO regress_enum_owner;
SET ROLE regress_enum_owner;
ALTER TYPE verb RENAME VALUE 'delete' TO 'erase';
SELECT audit_guard.unprotect('via_composite');
RESET ROLE;

-- nothing protected uses it any more
ALTER TYPE verb RENAME VALUE 'erase' TO 'delete';

RESET search_path;
DROP SCHEMA regress_enum CASCADE;
REVOKE regress_enum_owner FROM CURRENT_USER;
DROP ROLE regress_enum_owner;
