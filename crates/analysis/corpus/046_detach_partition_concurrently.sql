-- detach partition concurrently
ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;
