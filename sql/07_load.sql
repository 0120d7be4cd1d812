-- LOAD while tables are protected: a library loaded into a running session
-- could replace audit_guard's hooks, so only the designated owner of every
-- protected table may LOAD; with nothing protected LOAD is untouched.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE ROLE regress_load_owner;
CREATE TABLE regress_load_log (id int);
SELECT audit_guard.protect('regress_load_log', owner => 'regress_load_owner');
LOAD 'auto_explain';
SHOW auto_explain.log_min_duration;

-- once nothing is protected, LOAD is untouched
GRANT regress_load_owner TO CURRENT_USER;
SET ROLE regress_load_owner;
SELECT audit_guard.unprotect('regress_load_log');
RESET ROLE;
LOAD 'auto_explain';
SHOW auto_explain.log_min_duration;

DROP TABLE regress_load_log;
REVOKE regress_load_owner FROM CURRENT_USER;
DROP ROLE regress_load_owner;
