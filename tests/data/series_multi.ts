# Two channels of unequal length per case; comments and blank lines are skipped.
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down

@data
1,2,3:4,5,6:up
# a comment between the cases
0.5,-0.5:1e2,2E-1:down
7:8:up
