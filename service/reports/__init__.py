"""What a lesson report shows: the pure numbers, the report operation, the kept totals."""
