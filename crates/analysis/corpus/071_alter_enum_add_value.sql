-- alter enum add value
ALTER TYPE order_status ADD VALUE 'refunded';
