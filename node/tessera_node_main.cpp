// Replaced by the node process wiring.
int main() { return 1; }
