-- detach partition
ALTER TABLE measurements DETACH PARTITION measurements_2020;
