/* traffic_main.c: placeholder until the traffic tool lands. */
int main(void) { return 1; }
