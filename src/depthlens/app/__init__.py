"""The local web explorer (`depthlens serve`)."""
