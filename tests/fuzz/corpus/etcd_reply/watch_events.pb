
Z
foo *bar0Z
foo *bar0