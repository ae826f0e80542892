//! Write access, and pushers known from `synchronize` deliveries.
