
DROP TABLE independent_build_inputs;

