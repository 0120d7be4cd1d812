/* audit_guard--1.0--1.1.sql: everything added after the 1.0 release */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION audit_guard UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.0 is released and never edited: a new database gets 1.1 by running
 * audit_guard--1.0.sql and then this script, an existing one by ALTER
 * EXTENSION audit_guard UPDATE.  Each part below keeps to its own section.
 */

/* ---- Guard hardening (issue 8) ---- */

/* ---- Tamper evidence: seal, verify, digest (issue 9) ---- */

/* ---- Deployments: restores, partitions, roles (issue 10) ---- */

/* ---- Retention, purge, redaction (issue 11) ---- */
