"""The material: Li6PS5Cl cells and their Li sites."""
