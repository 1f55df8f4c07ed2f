#!/usr/bin/env bash
# t_store_restart.sh with store.backend redis (a redis-server started by the test).
exec bash "$(dirname "$0")/t_store_restart.sh" "${1:-build}" redis
