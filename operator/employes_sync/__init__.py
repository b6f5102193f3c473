"""employes-sync: Employes.nl payroll data into PostgreSQL timelines, run by a Kubernetes operator."""

__version__ = "0.1.0"
