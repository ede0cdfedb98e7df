@echo off
rem The lessonwatch extension's native messaging host (nl.lessonwatch.agent.json names this
rem file, beside it): Chrome and Edge start it with the extension's origin as the first argument.
"%~dp0venv\Scripts\lessonwatch-agent.exe" native-host %*
