from django.dispatch import Signal

# Sent inside the transition's transaction with ``order``, ``previous`` (status), ``to``
# (status) and ``actor``. Later layers (riders: revoke a rider's access when an order is
# finished) subscribe; orders depends on none of them.
order_transitioned = Signal()
