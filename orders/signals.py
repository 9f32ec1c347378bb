from django.dispatch import Signal

# Sent inside the transition's transaction with ``order``, ``previous`` (status), ``to``
# (status) and ``actor``. Later layers (riders: revoke a rider's access when an order is
# finished) subscribe; orders depends on none of them.
order_transitioned = Signal()

# Sent inside the withdrawal's transaction with ``tenant``, ``orders`` (the orders just
# cancelled or failed because their customer's data was erased, already in their new
# status), ``reason`` and ``actor``. incidents opens an anomaly on each.
orders_withdrawn = Signal()
