"""employes"""
