-- bench/ddl.sql: the DDL path, on tables audit_guard does not protect.
CREATE TABLE bench_ddl_:client_id (id integer PRIMARY KEY, note text);
DROP TABLE bench_ddl_:client_id;
