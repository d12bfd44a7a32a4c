DROP TABLE subjects;
