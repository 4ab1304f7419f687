#!/usr/bin/env bash
# Placeholder until its issue lands: succeeds without doing anything.
exit 0
