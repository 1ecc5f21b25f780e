
 (	2	compacted